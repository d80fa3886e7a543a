"""The model families the simulator knows: what each can do and how its metadata looks.

A model's family comes from its name (the longest known prefix: `qwen3:8b` is qwen3); a name the
table does not know is a generic chat model (completion and tools), or, if it was named with
`--embed-model`, a generic BERT embedding model. The numbers are the real models' (context and
embedding lengths, block counts, parameter counts of the default tags), so that a client which
reads `model_info` to size its context sees what it would see with Ollama.
"""

from dataclasses import dataclass, field
from typing import Any

COMPLETION, TOOLS, THINKING, VISION, INSERT, EMBEDDING = (
    "completion",
    "tools",
    "thinking",
    "vision",
    "insert",
    "embedding",
)

QWEN3_TEMPLATE = """{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if and $.IsThinkSet .Thinking }}<think>{{ .Thinking }}</think>{{ end }}
{{- if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ if and $.IsThinkSet (not $.Think) -}}
<think>

</think>

{{ end -}}
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""

CHATML_TEMPLATE = """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""

LLAMA_TEMPLATE = """<|start_header_id|>system<|end_header_id|>

{{ if .System }}{{ .System }}{{ end }}{{ if .Tools }}You have access to the following \
functions: {{ .Tools }}{{ end }}<|eot_id|>
{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

"""

EMBED_TEMPLATE = "{{ .Prompt }}"

APACHE = """                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"""

LLAMA_LICENSE = """LLAMA 3.2 COMMUNITY LICENSE AGREEMENT
Llama 3.2 Version Release Date: September 25, 2024"""


@dataclass(frozen=True)
class Family:
    """What models of one family can do, and the metadata their GGUF files carry."""

    name: str  # details.family
    arch: str  # general.architecture, the prefix of the model_info keys
    capabilities: tuple[str, ...]
    context_length: int
    embedding_length: int
    parameters: int  # of the default tag
    quantization: str = "Q4_K_M"
    blocks: tuple[int, int, int, int] = (32, 32, 8, 14336)  # blocks, heads, kv heads, ffn
    template: str = CHATML_TEMPLATE
    defaults: dict[str, Any] = field(default_factory=dict)  # the Modelfile's PARAMETERs
    license: str = APACHE
    families: tuple[str, ...] = ()
    levels_only: bool = False  # gpt-oss: `think` takes levels; true/false cannot turn it off

    @property
    def embeds(self) -> bool:
        return EMBEDDING in self.capabilities


QWEN3_DEFAULTS = {
    "repeat_penalty": 1,
    "stop": ["<|im_start|>", "<|im_end|>"],
    "temperature": 0.6,
    "top_k": 20,
    "top_p": 0.95,
}
CHAT, REASONING = (COMPLETION, TOOLS), (COMPLETION, TOOLS, THINKING)
BERT = (12, 12, 12, 1536)

# fmt: off
FAMILIES: dict[str, Family] = {
    "qwen3": Family(
        "qwen3", "qwen3", REASONING, 40960, 4096, 8_190_735_360, blocks=(36, 32, 8, 12288),
        template=QWEN3_TEMPLATE, defaults=QWEN3_DEFAULTS,
    ),
    "qwen2.5-coder": Family(
        "qwen2", "qwen2", (*CHAT, INSERT), 32768, 3584, 7_615_616_512, blocks=(28, 28, 4, 18944)
    ),
    "llama3": Family(
        "llama", "llama", CHAT, 131072, 3072, 3_212_749_888, blocks=(28, 24, 8, 8192),
        template=LLAMA_TEMPLATE, license=LLAMA_LICENSE,
    ),
    "mistral": Family("llama", "llama", CHAT, 32768, 4096, 7_248_023_552),
    "llava": Family(
        "llama", "llama", (COMPLETION, VISION), 4096, 4096, 7_241_732_096, quantization="Q4_0",
        families=("llama", "clip"),
    ),
    "gemma3": Family(
        "gemma3", "gemma3", (COMPLETION, VISION), 131072, 2560, 4_300_079_472,
        blocks=(34, 8, 4, 10240),
    ),
    "deepseek-r1": Family(
        "qwen3", "qwen3", REASONING, 131072, 4096, 8_190_735_360, blocks=(36, 32, 8, 12288),
        template=QWEN3_TEMPLATE,
    ),
    "gpt-oss": Family(
        "gptoss", "gptoss", REASONING, 131072, 2880, 20_914_757_184, quantization="MXFP4",
        blocks=(24, 64, 8, 2880), levels_only=True,
    ),
    "all-minilm": Family(
        "bert", "bert", (EMBEDDING,), 512, 384, 22_565_376, quantization="F16",
        blocks=(6, 12, 12, 1536), template=EMBED_TEMPLATE,
    ),
    "nomic-embed-text": Family(
        "nomic-bert", "nomic-bert", (EMBEDDING,), 2048, 768, 136_727_040, quantization="F16",
        blocks=BERT, template=EMBED_TEMPLATE,
    ),
    "mxbai-embed-large": Family(
        "bert", "bert", (EMBEDDING,), 512, 1024, 334_092_288, quantization="F16",
        blocks=(24, 16, 16, 4096), template=EMBED_TEMPLATE,
    ),
}
# fmt: on
GENERIC_CHAT = Family("llama", "llama", CHAT, 8192, 4096, 8_030_261_248, template=LLAMA_TEMPLATE)
GENERIC_EMBED = Family(
    "bert",
    "bert",
    (EMBEDDING,),
    512,
    384,
    22_565_376,
    quantization="F16",
    blocks=BERT,
    template=EMBED_TEMPLATE,
)

FILE_TYPES = {"F16": 1, "Q4_0": 2, "Q4_K_M": 15, "MXFP4": 38}
BITS_PER_PARAMETER = {"F16": 16.0, "Q4_0": 4.55, "Q4_K_M": 5.1, "MXFP4": 4.25}


def family_of(model: str, *, embedding: bool = False) -> Family:
    """The family of a model named `model` (its name without namespace or tag)."""
    base = model.lower()
    known = [prefix for prefix in FAMILIES if base.startswith(prefix)]
    if known:
        return FAMILIES[max(known, key=len)]
    return GENERIC_EMBED if embedding else GENERIC_CHAT


def human_number(count: int) -> str:
    """A parameter count as Ollama's details show it: 8.2B, 23M."""
    if count >= 1_000_000_000:
        return f"{count / 1e9:.1f}".removesuffix(".0") + "B"
    if count >= 1_000_000:
        return f"{round(count / 1e6)}M"
    return f"{round(count / 1e3)}K"
