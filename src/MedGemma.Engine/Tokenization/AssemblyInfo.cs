using System.Runtime.CompilerServices;

// The tokenizer tests compare the word-splitting fast path against whole-word BPE.
[assembly: InternalsVisibleTo("MedGemma.Engine.Tests")]
[assembly: InternalsVisibleTo("MedGemma.Bench")]
