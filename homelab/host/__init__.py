"""One host: its stack config (config, stack), planned into the one desired FileSet
(containers, system, plan), and that set as Butane for Ignition (butane). Pure: no pulumi,
no subprocess; reads only the project's own files."""
