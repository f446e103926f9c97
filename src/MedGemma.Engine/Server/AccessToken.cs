using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace MedGemma.Engine.Server;

/// <summary>
/// The secret every request must carry: as a cookie (set on the page's first load from <c>?token=</c>),
/// as <c>Authorization: Bearer</c>, or — for the page only — in the query string.
/// </summary>
public sealed class AccessToken
{
    public const string CookieName = "medgemma_token";
    readonly byte[] _bytes;

    public string Value { get; }

    AccessToken(string value)
    {
        Value = value;
        _bytes = Encoding.UTF8.GetBytes(value);
    }

    /// <summary>256 random bits, base64url (safe in a URL and a cookie without escaping).</summary>
    public static AccessToken Generate()
    {
        var raw = RandomNumberGenerator.GetBytes(32);
        return new AccessToken(Convert.ToBase64String(raw).TrimEnd('=').Replace('+', '-').Replace('/', '_'));
    }

    /// <summary>A caller-chosen token (e.g. from a secret store for a container); at least 16 characters.</summary>
    public static AccessToken From(string value)
    {
        if (string.IsNullOrEmpty(value) || value.Length < 16 || value.Any(c => c <= ' ' || c > '~' || c == ';' || c == ',' || c == '"'))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidAccessToken",
                "An access token needs at least 16 printable ASCII characters without spaces, ';', ',' or '\"'.", "AccessToken");
        return new AccessToken(value);
    }

    /// <summary>Constant-time comparison, so response timing does not reveal how much of a guess was right.</summary>
    public bool Matches(string? candidate)
    {
        if (candidate is null) return false;
        return CryptographicOperations.FixedTimeEquals(_bytes, Encoding.UTF8.GetBytes(candidate));
    }

    /// <summary>How a request proved it holds the token, or <see cref="TokenSource.None"/>.</summary>
    public TokenSource Check(HttpListenerRequest request)
    {
        var auth = request.Headers["Authorization"];
        if (auth is not null && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && Matches(auth[7..].Trim()))
            return TokenSource.Bearer;
        // Parse the Cookie header ourselves: HttpListener's cookie parser is lenient in odd ways across platforms.
        var cookieHeader = request.Headers["Cookie"];
        if (cookieHeader is not null)
        {
            foreach (var part in cookieHeader.Split(';'))
            {
                var eq = part.IndexOf('=');
                if (eq > 0 && part[..eq].Trim() == CookieName && Matches(part[(eq + 1)..].Trim())) return TokenSource.Cookie;
            }
        }
        if (Matches(request.QueryString["token"])) return TokenSource.Query;
        return TokenSource.None;
    }

    /// <summary>HttpOnly: page scripts never see it. SameSite=Strict: other sites' pages cannot send it.</summary>
    public string SetCookieHeader() => $"{CookieName}={Value}; Path=/; HttpOnly; SameSite=Strict";

    public override string ToString() => "AccessToken(***)";
}

public enum TokenSource { None, Bearer, Cookie, Query }
