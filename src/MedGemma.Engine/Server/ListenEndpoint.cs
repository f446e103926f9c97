using System.Net;
using System.Net.Sockets;

namespace MedGemma.Engine.Server;

/// <summary>Turns a listen address into an HttpListener prefix and the URL users open.</summary>
public sealed record ListenEndpoint(string Prefix, string PublicHost, bool IsLoopback)
{
    /// <exception cref="MedGemmaException">InvalidArgument for a bad address, or a non-loopback one without allowRemote.</exception>
    public static ListenEndpoint Resolve(string listenAddress, int port, bool allowRemote)
    {
        var address = (listenAddress ?? "").Trim();
        ListenEndpoint endpoint;
        if (address.Equals("localhost", StringComparison.OrdinalIgnoreCase))
            endpoint = new($"http://localhost:{port}/", "localhost", true);
        else if (address is "*" or "+" or "0.0.0.0" or "::" or "[::]")
            endpoint = new($"http://+:{port}/", Dns.GetHostName(), false);
        else if (IPAddress.TryParse(address.Trim('[', ']'), out var ip))
        {
            var host = ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
            endpoint = new($"http://{host}:{port}/", host, IPAddress.IsLoopback(ip));
        }
        else
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidListenAddress",
                $"'{listenAddress}' is not an IP address, 'localhost' or '0.0.0.0'.", listenAddress);

        if (!endpoint.IsLoopback && !allowRemote)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "RemoteNotAllowed",
                $"Listening on '{listenAddress}' exposes medical images to the network; pass AllowRemote to confirm (the access token is still required).",
                listenAddress);
        return endpoint;
    }

    /// <summary>A port that was free a moment ago (HttpListener cannot bind port 0 itself).</summary>
    public static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        try { return ((IPEndPoint)probe.LocalEndpoint).Port; }
        finally { probe.Stop(); }
    }
}
