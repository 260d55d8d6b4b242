package access

// RequestValues are a request's [Subject] and [Policy] for a context node that a
// middleware builds itself, so that both travel in one allocation instead of one
// context.WithValue each (see authn's session middleware). A context type holding
// RequestValues answers its Value(key) with [RequestValues.Lookup] first; then
// [SubjectFrom] and [PolicyFrom] find them exactly as if [WithSubject] and
// [WithPolicy] had been used.
type RequestValues struct {
	Subject Subject
	Policy  *Policy
}

// Lookup answers a context Value call for the subject and policy keys of this
// package; ok is false for any other key (the caller then asks its parent).
func (v *RequestValues) Lookup(key any) (val any, ok bool) {
	switch key.(type) {
	case subjectKey:
		return &v.Subject, true
	case policyKey:
		return v.Policy, true
	}
	return nil, false
}
