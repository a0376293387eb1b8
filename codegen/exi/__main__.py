import sys

from evstack.codegen.exi.importer import main

sys.exit(main())
