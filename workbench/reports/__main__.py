from workbench.reports.cli import main

raise SystemExit(main())
