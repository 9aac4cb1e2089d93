"""`rec diff`: cassettes compared for CI, each pair judged (identical, benign, requests changed, regression).

- `views`: each exchange as a normalized view, and its route;
- `align`: exchanges of two cassettes aligned, in n log n at worst;
- `outcome`: what an answer did (its end, tool calls, output, tokens), read from its events;
- `rules`: the verdict rules in one table, with their levels and settings;
- `verdict`: two aligned exchanges judged by those rules;
- `usage`: tokens, cost and latency;
- `compare`: two cassettes compared (a pair); `sources` and `report`: folders and git revisions;
- `render`: text, markdown, JSON and JUnit.
"""
