using System.Text;
using MedGemma.Engine.Server;

namespace MedGemma.Engine.Tests.Server;

public class MultipartFormTests
{
    [Fact]
    public void ParsesFilesAndFieldsWithBinaryContent()
    {
        // Binary content containing CR LF and a near-boundary must come back byte for byte.
        var binary = new byte[] { 0, 255, 13, 10, 45, 45, (byte)'x', 13, 10, 45, 45, (byte)'b', 1 };
        var body = new MemoryStream();
        void W(string s) => body.Write(Encoding.UTF8.GetBytes(s));
        W("--bnd\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nDescribe ü\r\n");
        W("--bnd\r\nContent-Disposition: form-data; name=\"image\"; filename=\"C:\\\\scans\\\\a.dcm\"\r\nContent-Type: application/dicom\r\n\r\n");
        body.Write(binary);
        W("\r\n--bnd\r\nContent-Disposition: form-data; name=\"image\"; filename=\"../b.png\"\r\n\r\n\r\n--bnd--\r\n");

        var form = MultipartForm.Parse(body.ToArray(), "bnd");

        Assert.Equal("Describe ü", form.Field("prompt"));
        var files = form.Files.ToList();
        Assert.Equal(2, files.Count);
        Assert.Equal("a.dcm", files[0].FileName); // the path is dropped: names only label results
        Assert.Equal("application/dicom", files[0].ContentType);
        Assert.Equal(binary, files[0].Content);
        Assert.Equal("b.png", files[1].FileName);
        Assert.Empty(files[1].Content);
    }

    [Theory]
    [InlineData("")]
    [InlineData("--bnd\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end")]
    [InlineData("--bnd\r\nno headers end")]
    [InlineData("--bnd\r\nContent-Type: text/plain\r\n\r\nx\r\n--bnd--")]
    public void MalformedBodiesAreInvalidData(string body)
    {
        var e = Assert.Throws<MedGemmaException>(() => MultipartForm.Parse(Encoding.UTF8.GetBytes(body), "bnd"));
        Assert.Equal(MedGemmaErrorKind.InvalidData, e.Kind);
        Assert.Equal("BadMultipart", e.ErrorId);
    }

    [Theory]
    [InlineData("multipart/form-data; boundary=abc", "abc")]
    [InlineData("multipart/form-data; boundary=\"a b\"", "a b")]
    [InlineData("application/json", null)]
    [InlineData(null, null)]
    public void ReadsTheBoundary(string? contentType, string? boundary) =>
        Assert.Equal(boundary, MultipartForm.Boundary(contentType));
}
