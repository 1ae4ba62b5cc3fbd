# Backend choice: the first healthy backend (list order) of the right kind.
package privacy_router

import rego.v1

healthy_onprem := [b | some b in input.backends.onprem; b.healthy == true]

healthy_external := [b | some b in input.backends.external; b.healthy == true]

# On-prem backends that serve the requested model.
onprem_serving_model := [b | some b in healthy_onprem; input.request.model in b.models]

# A client asking for a model served on-prem gets it on-prem, whatever the content.
model_pinned_onprem if count(onprem_serving_model) > 0

onprem_backend := onprem_serving_model[0].name

onprem_backend := healthy_onprem[0].name if count(onprem_serving_model) == 0

external_backend := healthy_external[0].name

# External backends a tenant's personal data may go to (after scrubbing).
permitted_external := [b | some b in healthy_external; export_permitted(b.region)]

scrub_backend := permitted_external[0].name

# Fallbacks: the other backends of the chosen kind the router may try, in order, when `backend`
# fails before answering (429, 5xx, unreachable; api/proxy.py). Never another kind: a fallback
# never sends data further out than the action did, and never to a backend the data class may
# not go to (a pinned model stays on backends serving it; scrubbed data only to permitted regions).
fallbacks := [b.name | some b in onprem_serving_model; b.name != backend] if {
	route == "onprem"
	model_pinned_onprem
} else := [b.name | some b in healthy_onprem; b.name != backend] if {
	route == "onprem"
} else := [b.name | some b in healthy_external; b.name != backend] if {
	route == "external"
} else := [b.name | some b in permitted_external; b.name != backend] if {
	route == "external_scrubbed"
} else := []
