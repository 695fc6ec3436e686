"""What users call: the command line (`kgreason`), the demo, and (later) run_pipeline, GraphQA and batch predict."""
