using System.Management.Automation;
using MedGemma.Engine;

namespace MedGemma.PowerShell;

/// <summary>Turns engine failures into ErrorRecords whose target is the input that failed, never the cmdlet.</summary>
internal static class ErrorRecords
{
    public static ErrorCategory CategoryOf(MedGemmaErrorKind kind) => kind switch
    {
        MedGemmaErrorKind.NotFound => ErrorCategory.ObjectNotFound,
        MedGemmaErrorKind.InvalidData => ErrorCategory.InvalidData,
        MedGemmaErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        MedGemmaErrorKind.NotSupported => ErrorCategory.NotImplemented,
        MedGemmaErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        MedGemmaErrorKind.Cancelled => ErrorCategory.OperationStopped,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>The record for any exception; <paramref name="target"/> (the pipeline input) wins over the engine's own target.</summary>
    public static ErrorRecord From(Exception error, object? target = null) => error switch
    {
        MedGemmaException m => new ErrorRecord(m, m.ErrorId, CategoryOf(m.Kind), target ?? m.Target),
        OperationCanceledException => new ErrorRecord(error, "Cancelled", ErrorCategory.OperationStopped, target),
        FileNotFoundException f => new ErrorRecord(error, "FileNotFound", ErrorCategory.ObjectNotFound, target ?? f.FileName),
        DirectoryNotFoundException => new ErrorRecord(error, "DirectoryNotFound", ErrorCategory.ObjectNotFound, target),
        UnauthorizedAccessException => new ErrorRecord(error, "AccessDenied", ErrorCategory.PermissionDenied, target),
        ArgumentException => new ErrorRecord(error, "InvalidArgument", ErrorCategory.InvalidArgument, target),
        OutOfMemoryException => new ErrorRecord(error, "OutOfMemory", ErrorCategory.ResourceUnavailable, target),
        IOException => new ErrorRecord(error, "IOError", ErrorCategory.ReadError, target),
        _ => new ErrorRecord(error, "EngineError", ErrorCategory.NotSpecified, target),
    };

    public static ErrorRecord Create(string id, ErrorCategory category, string message, object? target)
        => new(new InvalidOperationException(message), id, category, target);
}
