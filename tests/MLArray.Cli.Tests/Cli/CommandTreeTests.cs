using System.CommandLine;
using MLArray.Cli;

namespace MLArray.Cli.Tests.Cli;

/// <summary>
/// <see cref="CliApp.BuildRoot"/> builds only the invoked command when the first argument names one: what that
/// command prints (help, usage errors) must be what the whole tree prints.
/// </summary>
public sealed class CommandTreeTests
{
    private static readonly string[] Names = ["header", "convert", "validate", "migrate", "bench", "preview", "view", "index", "sample", "predict"];

    private static (int Code, string Out, string Err) Invoke(string[] args, bool onlyInvoked)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Command root = CliApp.BuildRoot(args, stdout, stderr, null, CancellationToken.None, onlyInvoked);
        int code = root.Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void The_whole_tree_has_every_command_and_a_named_command_is_built_alone()
    {
        Command full = CliApp.BuildRoot([], TextWriter.Null, TextWriter.Null, null, CancellationToken.None, onlyInvoked: true);
        Assert.Equal(Names.Order(), full.Subcommands.Select(c => c.Name).Order());
        foreach (string name in Names)
        {
            Command alone = CliApp.BuildRoot([name, "x"], TextWriter.Null, TextWriter.Null, null, CancellationToken.None, onlyInvoked: true);
            Assert.Equal(name, Assert.Single(alone.Subcommands).Name);
        }
        // not a command name (misspelt, an option, a response file): the whole tree, so suggestions and root help work
        foreach (string[] args in (string[][])[["conver"], ["--help"], ["--version"], ["@args.rsp"]])
            Assert.Equal(Names.Length, CliApp.BuildRoot(args, TextWriter.Null, TextWriter.Null, null, CancellationToken.None, onlyInvoked: true).Subcommands.Count);
    }

    [Theory]
    [InlineData("header")]
    [InlineData("convert")]
    [InlineData("validate")]
    [InlineData("migrate")]
    [InlineData("bench")]
    [InlineData("preview")]
    [InlineData("view")]
    [InlineData("index")]
    [InlineData("sample")]
    [InlineData("predict")]
    public void A_command_built_alone_prints_the_same_help_and_errors(string name)
    {
        foreach (string[] args in (string[][])[[name, "--help"], [name, "--no-such-option"], [name]])
        {
            var alone = Invoke(args, onlyInvoked: true);
            var whole = Invoke(args, onlyInvoked: false);
            Assert.Equal(whole, alone);
        }
        Assert.Contains($"mlarray {name}", Invoke([name, "--help"], onlyInvoked: true).Out, StringComparison.Ordinal);
    }
}
