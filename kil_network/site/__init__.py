"""Site: the composition layer's pages and commands.

The home page and the other site-wide pages (privacy, accessibility, contact), the headline
counts, the template filters that need area data, and the commands that span areas
(seed-demo, seed-bulk, create-user). It may import every area; no area imports it.
"""
