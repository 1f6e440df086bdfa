return ExtensionSample.Demo.Run(Console.Out);
