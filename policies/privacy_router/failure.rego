# Failure handling: what the router does when this policy cannot be evaluated (engine error,
# timeout, an undefined decision, or a decision that breaks the contract).
#
#   "block"  : refuse the request (HTTP 503); nothing is sent anywhere. The default.
#   "onprem" : send it to a healthy on-prem backend (one serving the requested model first); if
#              none is healthy, block.
#
# Never an external route: with no working policy, the content has not been judged. The router
# refuses to load a policy whose failure_action is anything else, and treats an undefined one as
# "block". It is read once when the policy loads, so it must not depend on the input.
package privacy_router

import rego.v1

failure_action := "block"
