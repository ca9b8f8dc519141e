"""Infrastructure (AWS CDK v2) for the auditable data platform.

jsii, which runs aws-cdk-lib on Node.js, prints a large banner when the Node major
version is past its end of life. CI and developer machines run Node 20, which is
still a supported runtime for aws-cdk-lib itself; we silence exactly that banner
for exactly Node 20 (the variable takes major versions), so any other Node
warning, and every real error, still shows.
"""

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
