"""Letter templates: sandboxed rendering, validation that names the faulty line, preview."""
