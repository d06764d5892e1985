"""Campaign and publisher reports: asynchronous aggregations of pixel rollups."""
