"""`python -m app.matching.spark`: the spark-submit driver."""

import sys

from app.matching.spark.run import main

sys.exit(main())
