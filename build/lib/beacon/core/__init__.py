"""Cross-cutting pieces shared by every domain: settings, database, errors, auth, jobs."""
