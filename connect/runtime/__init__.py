"""The Connect runtime: workers, task executors, offsets, herders (standalone and distributed)."""
