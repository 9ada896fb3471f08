"""Site: the composition layer's pages and command.

The home page and the other site-wide pages (privacy, accessibility, contact), the headline
counts, the template filters that need area data, and `flask create-user`. It may import every
area; no area imports it, nor does kil_network.devdata (its independent sibling).
"""
