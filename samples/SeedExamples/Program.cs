// Runs every example in a fresh temporary folder: dotnet run --project samples/SeedExamples
string dir = Directory.CreateTempSubdirectory("mla-seed-examples-").FullName;
try
{
    return SeedExamples.Examples.Run(Console.Out, dir);
}
finally
{
    Directory.Delete(dir, recursive: true);
}
