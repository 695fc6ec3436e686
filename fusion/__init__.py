"""Models that join a text encoder and a graph encoder (lm_only, graph_only, late, interaction)."""
