# The decision document: data.privacy_router.decision (see DESIGN.md "Policy contract").
#
# Order of the rules below is the order of precedence: the model pin, then sensitive data, then
# personal data, then clean data. Every branch ends with a fallback that keeps data closer to home
# (external -> on-prem -> block), never one that sends it further out.
package privacy_router

import rego.v1

policy_id := "privacy_router.decision"

route := "onprem" if {
	model_pinned_onprem
} else := "onprem" if {
	sensitive
	onprem_backend
} else := "block" if {
	sensitive
} else := "external_scrubbed" if {
	personal
	scrub_backend
} else := "onprem" if {
	personal
	onprem_backend
} else := "block" if {
	personal
} else := "external" if {
	external_backend
} else := "onprem" if {
	onprem_backend
} else := "block"

route_reason := "requested model is served on-prem: routed on-prem" if {
	model_pinned_onprem
} else := "sensitive data: routed to a healthy on-prem backend" if {
	route == "onprem"
	sensitive
} else := "sensitive data and no healthy on-prem backend: blocked" if {
	sensitive
} else := concat("", [
	"personal data scrubbed for external backends in ", concat(", ", [j | some j in sort(permitted_jurisdictions)]),
	", export destinations permitted for tenant jurisdiction ", input.principal.jurisdiction,
]) if {
	route == "external_scrubbed"
} else := concat("", [
	"no healthy external backend in a region tenant jurisdiction ", input.principal.jurisdiction,
	" may export personal data to: routed on-prem",
]) if {
	route == "onprem"
	personal
} else := "personal data, no permitted external backend and no healthy on-prem backend: blocked" if {
	personal
} else := "no sensitive or personal data detected: routed external" if {
	route == "external"
} else := "no healthy external backend: routed on-prem" if {
	route == "onprem"
} else := "no healthy backend: blocked"

backend := onprem_backend if route == "onprem"

backend := external_backend if route == "external"

backend := scrub_backend if route == "external_scrubbed"

backend := null if route == "block"

# Where scrubbed data may go: the jurisdictions of every permitted external backend. The route
# reason names all of them, not the first backend's: the preference step (preference.rego) may put
# any permitted backend first, and the record's backend field says which one was used.
permitted_jurisdictions := {region_jurisdiction(b.region) | some b in permitted_external}

# sort() results are copied through a comprehension: in regopy 1.5.2 a rule whose value is a
# sort() result cannot be indexed or passed to array.concat (the query comes back undefined).
scrub_entities := [t | some t in sort(entity_types)] if route == "external_scrubbed"

scrub_entities := [] if route != "external_scrubbed"

class_reasons := [r | some r in sort(sensitive_reasons)] if sensitive

class_reasons := [r | some r in sort(personal_reasons)] if personal

class_reasons := [] if clean

decision := {
	"action": route,
	"backend": backend,
	"scrub_entities": scrub_entities,
	"fallbacks": fallbacks,
	"reasons": array.concat(class_reasons, [route_reason]),
	"policy_id": policy_id,
}
