package privacy_router_test

import data.privacy_router
import rego.v1

test_failure_action_is_block if {
	privacy_router.failure_action == "block"
}

test_failure_action_does_not_depend_on_input if {
	p := principal_de
	d := phi
	privacy_router.failure_action == "block" with input.principal as p with input.detection as d
}
