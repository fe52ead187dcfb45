"""Built-in rules, one class per rule, grouped by family in modules.

Code prefixes: FTP parse/structure, FTC consistency, FTD dataset-level, FTS security,
FTG training config, FTT tokens, FTV VRAM, FTJ JSON schema and tool calls, FTK smoke,
FTX internal. Codes are never reused.
"""
