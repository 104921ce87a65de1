"""The only package that imports torch and transformers. Models load lazily, once per process."""
