namespace MedGemma.Engine.Server;

/// <summary>How a <see cref="CaptionServer"/> listens and what it accepts.</summary>
public sealed class CaptionServerOptions
{
    /// <summary>TCP port; 0 picks a free one.</summary>
    public int Port { get; init; } = 7860;

    /// <summary>An IP address, "localhost", or "0.0.0.0"/"::"/"*" for all interfaces.</summary>
    public string ListenAddress { get; init; } = "127.0.0.1";

    /// <summary>Required for any non-loopback <see cref="ListenAddress"/>; the token is required either way.</summary>
    public bool AllowRemote { get; init; }

    /// <summary>The access token; null generates a random one.</summary>
    public string? Token { get; init; }

    /// <summary>Largest request body accepted (all images of one request together); larger → 413.</summary>
    public long MaxUploadBytes { get; init; } = 100L * 1024 * 1024;

    /// <summary>Most images in one caption request.</summary>
    public int MaxImagesPerRequest { get; init; } = 64;

    /// <summary>Caption requests running or waiting before new ones get 503.</summary>
    public int QueueLimit { get; init; } = 32;

    /// <summary>The page's default for max new tokens, and the largest value a request may ask for.</summary>
    public int DefaultMaxNewTokens { get; init; } = 256;
    public int MaxNewTokensLimit { get; init; } = 2048;

    /// <summary>The prompt the page proposes.</summary>
    public string DefaultPrompt { get; init; } = "Describe this medical image.";

    /// <summary>The adapter used when a request names none (one of the backend's <see cref="ICaptionBackend.Adapters"/>); null = the backend's active one.</summary>
    public string? DefaultAdapter { get; init; }

    /// <summary>Dispose the backend (e.g. a model session the server opened) when the server stops.</summary>
    public bool OwnsBackend { get; init; }

    internal void Validate()
    {
        static MedGemmaException Bad(string target, string message) => new(MedGemmaErrorKind.InvalidArgument, "InvalidServerOption", message, target);
        if (Port is < 0 or > 65535) throw Bad(nameof(Port), $"Port {Port} is not between 0 and 65535.");
        if (MaxUploadBytes < 1024) throw Bad(nameof(MaxUploadBytes), $"MaxUploadBytes {MaxUploadBytes} is below 1024.");
        if (MaxImagesPerRequest < 1) throw Bad(nameof(MaxImagesPerRequest), "MaxImagesPerRequest must be at least 1.");
        if (DefaultMaxNewTokens < 1 || DefaultMaxNewTokens > MaxNewTokensLimit)
            throw Bad(nameof(DefaultMaxNewTokens), $"DefaultMaxNewTokens {DefaultMaxNewTokens} must be between 1 and MaxNewTokensLimit ({MaxNewTokensLimit}).");
    }
}
