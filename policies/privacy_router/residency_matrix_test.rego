# Exhaustive residency test. Every tenant jurisdiction named in data.residency (plus an unknown
# one) x every backend region (plus an unknown one) against an oracle written from the rules in
# policies/README.md, not from the policy's helpers; and the whole decision for every data class
# (plus an unknown one) x on-prem and external backend health x both residency polarities
# (export permitted and refused). Both polarities are asserted, so the test cannot pass by
# refusing every export.
package privacy_router_test

import data.privacy_router
import rego.v1

# object.keys, not {k | some k, _ in obj}: regopy 1.5.2 reads the comma in a set comprehension as a
# set literal ("Invalid collection").
matrix_jurisdictions := (object.keys(data.residency.exports) | object.keys(data.residency.jurisdiction_aliases)) | {"ZZ"}

matrix_regions := object.keys(data.residency.regions) | {"unknown-region-1"}

matrix_classes := {"clean", "PII", "PHI", "PCI", "CREDENTIALS", "UNKNOWN_CLASS"}

matrix_detection(class) := clean if class == "clean"

matrix_detection(class) := only(class, "ENTITY_X") if class != "clean"

matrix_backends(region, onprem_up, external_up) := {
	"onprem": [object.union(vllm_a, {"healthy": onprem_up})],
	"external": [{"name": "ext", "region": region, "zero_data_retention": true, "healthy": external_up}],
}

# -- the oracle ---------------------------------------------------------------------------------

oracle_area(j) := a if {
	a := data.residency.jurisdiction_aliases[j]
} else := j

oracle_permitted(j, region) if data.residency.regions[region] in data.residency.exports[oracle_area(j)]

oracle_action(_, _, "clean", _, true) := "external"

oracle_action(_, _, "clean", true, false) := "onprem"

oracle_action(_, _, "clean", false, false) := "block"

oracle_action(j, region, "PII", onprem_up, external_up) := "external_scrubbed" if {
	external_up
	oracle_permitted(j, region)
}

oracle_action(j, region, "PII", true, external_up) := "onprem" if {
	not oracle_scrubbable(j, region, external_up)
}

oracle_action(j, region, "PII", false, external_up) := "block" if {
	not oracle_scrubbable(j, region, external_up)
}

oracle_scrubbable(j, region, true) if oracle_permitted(j, region)

oracle_action(_, _, class, true, _) := "onprem" if not class in {"clean", "PII"}

oracle_action(_, _, class, false, _) := "block" if not class in {"clean", "PII"}

# -- the residency matrix: every jurisdiction x every region -------------------------------------
# Compared as two sets of permitted (jurisdiction, region) pairs: one policy call per pair (each
# call costs milliseconds in regopy 1.5.2, so the comparison is kept to one pass).

policy_permitted_pairs := {[j, r] |
	some j in matrix_jurisdictions
	some r in matrix_regions
	privacy_router.export_permitted_for(j, r)
}

oracle_permitted_pairs := {[j, r] |
	some j in matrix_jurisdictions
	area := oracle_area(j)
	some r in matrix_regions
	data.residency.regions[r] in data.residency.exports[area]
}

# Both polarities in one test (each test is evaluated on its own, and the matrix is the costly
# part): the permitted pairs are exactly the oracle's, some pairs are permitted and some refused,
# and known cells fall on the expected side.
test_residency_every_jurisdiction_and_region_both_polarities if {
	permitted := policy_permitted_pairs
	permitted == oracle_permitted_pairs
	total := count(matrix_jurisdictions) * count(matrix_regions)
	count(permitted) > 0
	count(permitted) < total
	["DE", "eu-west"] in permitted
	["DE", "uk-south"] in permitted
	["US", "us-east"] in permitted
	not ["DE", "us-east"] in permitted
	not ["ZZ", "us-east"] in permitted
	not ["US", "unknown-region-1"] in permitted
}

# -- the decision matrix: data class x backend health x both residency polarities ---------------
# Every cell runs the whole decision with `with` overrides, which costs about 50 ms per cell in
# regopy 1.5.2; the full product (every jurisdiction x region x class x health, 20 400 cells) runs
# in Python on both engines instead (tests/policy/test_policy_differential.py, `policy check`).

decision_cells contains [j, region, class, onprem_up, external_up, got, want] if {
	j := "DE"
	some region in {"eu-west", "us-east"} # export permitted, export refused
	some class in matrix_classes
	some onprem_up in [true, false]
	some external_up in [true, false]
	p := object.union(principal_us, {"jurisdiction": j})
	d := decide(p, request, matrix_detection(class), matrix_backends(region, onprem_up, external_up))
	got := d.action
	want := oracle_action(j, region, class, onprem_up, external_up)
}

test_decision_matrix_every_cell_routes_as_the_oracle_says if {
	wrong := [c | some c in decision_cells; c[5] != c[6]]
	wrong == []
	count(decision_cells) == (2 * count(matrix_classes)) * 4
}
