"""Server-rendered pages and static assets (the pages themselves come with the web issue)."""
