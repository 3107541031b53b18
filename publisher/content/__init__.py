"""Reading content: files in the content folder become items (readers, markup, the scanner)."""
