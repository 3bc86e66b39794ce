package conformance

// cases lists every conformance case, in the order they run.
func cases() []conformanceCase {
	var all []conformanceCase
	for _, group := range [][]conformanceCase{
		opsCases,
		multiCases,
		watchCases,
		sessionCases,
		sessionWireCases,
		aclCases,
		extCases,
		treeCases,
	} {
		all = append(all, group...)
	}
	return all
}
