namespace MedGemma.Engine;

/// <summary>What went wrong, in the terms the PowerShell layer maps onto ErrorCategory.</summary>
public enum MedGemmaErrorKind
{
    /// <summary>A file, folder, key or named item does not exist. (ObjectNotFound)</summary>
    NotFound,
    /// <summary>The input exists but its content is wrong: corrupt image, truncated file, wrong shape. (InvalidData)</summary>
    InvalidData,
    /// <summary>A parameter value is out of range or inconsistent. (InvalidArgument)</summary>
    InvalidArgument,
    /// <summary>Valid input in a format or variant we do not handle. (NotImplemented)</summary>
    NotSupported,
    /// <summary>Out of memory (host or device) or another exhausted resource. (ResourceUnavailable)</summary>
    ResourceUnavailable,
    /// <summary>Cancelled by the caller (Ctrl+C). (OperationStopped)</summary>
    Cancelled,
}

/// <summary>
/// Every failure the engine reports on purpose. <see cref="Target"/> is the input that failed
/// (a path, a checkpoint key, a manifest entry) so callers can name it; the engine never logs.
/// </summary>
public class MedGemmaException : Exception
{
    public MedGemmaErrorKind Kind { get; }
    public object? Target { get; }
    /// <summary>A short stable identifier, e.g. "CorruptImage", "MissingCheckpointKey".</summary>
    public string ErrorId { get; }

    public MedGemmaException(MedGemmaErrorKind kind, string errorId, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        ErrorId = errorId;
        Target = target;
    }
}
