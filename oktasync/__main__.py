from oktasync.cli import main

raise SystemExit(main())
