"""Analytics: the record streams folded into SQL tables for analysts (schema `analytics`),
kept exactly once from the gap-safe feed by the `analytics` catch-up projector; the summary
the HTTP edge serves from them; and the read-only `analyst` role that may query them."""
