"""One-time form keys in tests: read the key from the page, as the browser submits it."""

import re


def form_key(client, url) -> str:
    """The one-time key of the form `client` is shown at `url` (each GET issues a new one)."""
    html = client.get(url).content.decode()
    return re.search(r'name="form_key" value="([^"]+)"', html).group(1)


def hidden_fields(response) -> dict[str, str]:
    """The hidden inputs of the page `response` shows (a form's one-time key and what goes with it)."""
    html = response.content.decode()
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
