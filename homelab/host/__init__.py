"""One host: its stack config (config, stack), laid out as the one desired FileSet
(containers, system, layout), and that set as Butane for Ignition (butane). Pure: no pulumi,
no subprocess; reads only the project's own files."""
