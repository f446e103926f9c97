namespace MedGemma.Engine.Server;

/// <summary>Turns what a user passes as Start-CaptionServer -Model into an <see cref="ICaptionBackend"/>.</summary>
public static class CaptionBackends
{
    /// <summary>
    /// The backend for <paramref name="model"/>, and whether the server owns it (opened it, so disposes it on stop).
    /// Accepts any <see cref="ICaptionBackend"/>.
    /// </summary>
    public static (ICaptionBackend Backend, bool Owned) Resolve(object? model)
    {
        switch (model)
        {
            case ICaptionBackend backend:
                return (backend, false);
            case null:
                throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "NoModel",
                    "Start-CaptionServer needs a model: pass -Model with a model session.", "Model");
            case string path:
                // Opening a model folder goes through the Api facade (MedGemmaSession), which is not in the engine yet.
                throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "ModelPathNotSupported",
                    $"Serving a model folder ('{path}') directly is not available yet; pass -Model with a model session.", path);
            default:
                throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "UnsupportedModelObject",
                    $"-Model takes a model session; got a {model.GetType().FullName}.", model.GetType().FullName);
        }
    }
}
