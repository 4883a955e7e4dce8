"""Email templates: <kind>/<language>.txt and .html, with a shared base layout."""
