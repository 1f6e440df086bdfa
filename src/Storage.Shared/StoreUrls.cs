namespace MLArray.Storage;

/// <summary>Parsing shared by the object-store packages (compiled into each).</summary>
internal static class StoreUrls
{
    /// <summary>
    /// Splits a folder URL <c>SCHEME://top/prefix</c> (<paramref name="scheme"/> as "s3://") into the bucket or container
    /// and the prefix, which is empty or ends with one '/'.
    /// </summary>
    /// <exception cref="ArgumentException">Not such a URL.</exception>
    public static (string Top, string Prefix) SplitFolder(string url, string scheme, string form)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || url.Length <= scheme.Length || url[scheme.Length] == '/')
            throw new ArgumentException($"'{url}' is not an {form} URL.", nameof(url));
        string rest = url[scheme.Length..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string top = slash < 0 ? rest : rest[..slash];
        string prefix = slash < 0 ? "" : rest[(slash + 1)..];
        return (top, prefix.Length > 0 && !prefix.EndsWith('/') ? prefix + "/" : prefix);
    }
}
