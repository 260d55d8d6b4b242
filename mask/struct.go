package mask

import (
	"reflect"
	"sync"
)

// Value returns a masked copy of v, which may be a struct, a pointer, a
// slice, an array, a map or an interface holding any of these, nested to
// any depth. String fields tagged `mask:"KIND"` (see [Kind] and
// [ParseKind]) are masked; so are the strings in a tagged field of type
// *string, []string, [N]string or map[K]string (and nestings of these), and
// in named string types. Untagged fields are copied as they are, except that
// structs, pointers, slices, arrays, maps and exported interface fields are
// searched for tagged fields inside. For example:
//
//	type Call struct {
//		ID     int64
//		Caller string   `mask:"phone"`
//		Agent  Agent    // its own tagged fields are masked
//		Notes  []string `mask:"text"`
//	}
//
// v itself is never modified. Parts of v that contain nothing to mask are
// shared with the copy rather than duplicated, so the copy is cheap; do not
// modify them through the copy. Values in exported interface fields are
// inspected at run time, so keep records to plain data rather than handles
// such as *http.Request. A Masker that reveals returns v unchanged.
//
// The rules are checked once per type and cached, whoever the viewer is,
// so a mistagged type fails in every test. Value returns a [*PlanError] if
// a tag names an unknown kind ([ErrUnknownKind]), sits on a type that cannot
// hold it ([ErrUnsupportedType]), or if an unexported field is tagged or has
// a type containing tagged fields ([ErrUnexportedField]): the copy could not
// mask it, and refusing is safer than leaking. Other unexported fields are
// copied as they are and not searched; that includes unexported interface
// fields, so do not keep tagged values in them. The tag `mask:"none"` says
// that a field is not personal data: a string is copied as it is, but a
// struct, pointer, slice, map or interface under that tag is still searched
// for tagged fields, as if untagged. Map keys are never masked: a key type
// containing tagged fields is refused ([ErrMaskedMapKey]), and so, at run
// time, is a key (of type any, or holding an interface) whose dynamic value
// contains tagged fields. An embedded unexported struct (not a pointer) is
// searched like an exported field.
//
// A pointer, slice or map reached more than once in v (records sharing an
// agent, a DAG) is copied once per tag, and the copies share it as the
// originals do, so the work is linear in the size of the data, not in the
// number of paths through it. A reference cycle through data that needs
// masking returns [ErrCycle]. On error the result is nil, never the
// unmasked value.
func (m *Masker) Value(v any) (any, error) {
	m = m.self()
	if v == nil {
		return nil, nil
	}
	rv := reflect.ValueOf(v)
	p, err := planFor(rv.Type())
	if err != nil {
		return nil, err
	}
	if m.reveal || !p.visit {
		return v, nil
	}
	out := reflect.New(rv.Type()).Elem()
	out.Set(rv)
	c := copier{m: m}
	if err := c.fix(p, out); err != nil {
		return nil, err
	}
	return out.Interface(), nil
}

// Copy is the typed form of [Masker.Value]: it returns a masked copy of v
// with the same rules. On error it returns the zero T, never v.
//
//	masked, err := mask.Copy(m, calls) // calls []Call
func Copy[T any](m *Masker, v T) (T, error) {
	m = m.self()
	var zero T
	out := v
	rv := reflect.ValueOf(&out).Elem()
	p, err := planFor(rv.Type())
	if err != nil {
		return zero, err
	}
	if m.reveal || !p.visit {
		return v, nil
	}
	c := copier{m: m}
	if err := c.fix(p, rv); err != nil {
		return zero, err
	}
	return out, nil
}

// ValidateType checks the mask tags of t (and of the types it contains)
// and returns the [*PlanError] that [Masker.Value] would return for a value
// of that type, or nil. Call it in a test or at start-up for each type the
// host masks: ValidateType(reflect.TypeFor[Call]()).
func ValidateType(t reflect.Type) error {
	if t == nil {
		return nil
	}
	_, err := planFor(t)
	return err
}

type op uint8

const (
	opCopy   op = iota // nothing to mask: copied as it is
	opString           // a string to mask with plan.kind
	opPtr
	opSlice
	opArray
	opMap
	opStruct
	opIface // look at the dynamic value at run time
)

// A plan says how to mask a value of one type. Plans are built once per
// type, never modified once published, and shared by all Maskers.
type plan struct {
	t      reflect.Type
	op     op
	kind   Kind        // opString
	elem   *plan       // opPtr, opSlice, opArray, opMap (the values)
	key    *plan       // opMap: the keys, checked at run time if key.visit
	fields []fieldPlan // opStruct: only the fields to visit
	tagged bool        // contains tagged strings, statically
	visit  bool        // tagged, or contains interfaces to look into
}

type fieldPlan struct {
	index int
	p     *plan
}

type planEntry struct {
	p   *plan
	err error
}

// plans caches a plan (or the error) per reflect.Type, like encoding/json's
// field cache. A plan is a pure function of its type, so the cache never
// changes what any call returns; it is the package's only mutable state.
var plans sync.Map // reflect.Type → planEntry

func planFor(t reflect.Type) (*plan, error) {
	if e, ok := plans.Load(t); ok {
		e := e.(planEntry)
		return e.p, e.err
	}
	b := planBuilder{seen: map[reflect.Type]*plan{}}
	p, err := b.build(t)
	if err == nil {
		err = b.finish()
	}
	if err != nil {
		plans.LoadOrStore(t, planEntry{err: err})
		return nil, err
	}
	for _, bp := range b.list {
		plans.LoadOrStore(bp.t, planEntry{p: bp})
	}
	return p, nil
}

type planBuilder struct {
	seen   map[reflect.Type]*plan // plans being built, by type
	list   []*plan                // the same, in order: cached once finished
	leaves []*plan                // tagged plans (not cached: they depend on the tag)
	checks []check                // fields that must not turn out tagged
}

// check records a field whose plan must not be tagged once the types are
// all built (recursive types know that only at the end).
type check struct {
	owner reflect.Type
	field string
	p     *plan
	err   error
}

func (b *planBuilder) build(t reflect.Type) (*plan, error) {
	if e, ok := plans.Load(t); ok {
		e := e.(planEntry)
		return e.p, e.err
	}
	if p, ok := b.seen[t]; ok {
		return p, nil // recursive type: filled in by the caller up the stack
	}
	p := &plan{t: t}
	b.seen[t] = p
	b.list = append(b.list, p)
	var err error
	switch t.Kind() {
	case reflect.Pointer:
		p.op = opPtr
		p.elem, err = b.build(t.Elem())
	case reflect.Slice:
		p.op = opSlice
		p.elem, err = b.build(t.Elem())
	case reflect.Array:
		p.op = opArray
		p.elem, err = b.build(t.Elem())
	case reflect.Map:
		p.op = opMap
		if p.key, err = b.build(t.Key()); err == nil {
			b.checks = append(b.checks, check{owner: t, p: p.key, err: ErrMaskedMapKey})
			p.elem, err = b.build(t.Elem())
		}
	case reflect.Interface:
		p.op = opIface
		p.visit = true
	case reflect.Struct:
		p.op = opStruct
		err = b.buildStruct(p)
	}
	return p, err
}

func (b *planBuilder) buildStruct(p *plan) error {
	t := p.t
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, tagged := sf.Tag.Lookup("mask")
		if tagged {
			if !sf.IsExported() {
				return &PlanError{Type: t, Field: sf.Name, Tag: tag, Err: ErrUnexportedField}
			}
			k, err := ParseKind(tag)
			if err != nil {
				return &PlanError{Type: t, Field: sf.Name, Tag: tag, Err: err}
			}
			if k != None {
				fp, err := b.leaf(sf.Type, k, 0)
				if err != nil {
					return &PlanError{Type: t, Field: sf.Name, Tag: tag, Err: err}
				}
				p.fields = append(p.fields, fieldPlan{index: i, p: fp})
				continue
			}
			// "none" says the field itself is not personal data: a string
			// is copied as it is, but a struct, pointer, slice, map or
			// interface is searched like an untagged field, so the tag
			// never hides the tagged fields inside it.
		}
		fp, err := b.build(sf.Type)
		if err != nil {
			return err
		}
		if !sf.IsExported() && !(sf.Anonymous && sf.Type.Kind() == reflect.Struct) {
			// Cannot be set through reflection: it is copied as it is,
			// which is only safe if it holds nothing tagged.
			b.checks = append(b.checks, check{owner: t, field: sf.Name, p: fp, err: ErrUnexportedField})
			continue
		}
		p.fields = append(p.fields, fieldPlan{index: i, p: fp})
	}
	return nil
}

// maxLeafDepth bounds the nesting of containers around a tagged string
// ([]*[]string is 3), which also stops recursive types like type L []L.
const maxLeafDepth = 8

// leaf plans a field tagged with kind k: a string, or a pointer, slice,
// array or map (values) of such, nested.
func (b *planBuilder) leaf(t reflect.Type, k Kind, depth int) (*plan, error) {
	if depth > maxLeafDepth {
		return nil, ErrUnsupportedType
	}
	p := &plan{t: t, kind: k, tagged: true, visit: true}
	var err error
	switch t.Kind() {
	case reflect.String:
		p.op = opString
		return p, nil
	case reflect.Pointer:
		p.op = opPtr
	case reflect.Slice:
		p.op = opSlice
	case reflect.Array:
		p.op = opArray
	case reflect.Map:
		p.op = opMap
		if p.key, err = b.build(t.Key()); err != nil {
			return nil, err
		}
		b.checks = append(b.checks, check{owner: t, p: p.key, err: ErrMaskedMapKey})
	default:
		return nil, ErrUnsupportedType
	}
	if p.elem, err = b.leaf(t.Elem(), k, depth+1); err != nil {
		return nil, err
	}
	b.leaves = append(b.leaves, p)
	return p, nil
}

// finish computes tagged and visit for the plans built (a fixed point, since
// recursive types depend on themselves), drops the fields with nothing to
// visit, and runs the deferred checks.
func (b *planBuilder) finish() error {
	for changed := true; changed; {
		changed = false
		for _, p := range b.list {
			tagged, visit := p.tagged, p.visit
			switch p.op {
			case opPtr, opSlice, opArray:
				tagged, visit = p.elem.tagged, p.elem.visit
			case opMap:
				// Keys holding interfaces are visited to check them.
				tagged, visit = p.elem.tagged, p.elem.visit || p.key.visit
			case opStruct:
				for _, f := range p.fields {
					tagged = tagged || f.p.tagged
					visit = visit || f.p.visit
				}
			}
			if tagged != p.tagged || visit != p.visit {
				p.tagged, p.visit, changed = tagged, visit, true
			}
		}
	}
	for _, c := range b.checks {
		if c.p.tagged {
			return &PlanError{Type: c.owner, Field: c.field, Err: c.err}
		}
	}
	for _, p := range b.list {
		if p.op != opStruct {
			continue
		}
		kept := p.fields[:0:0]
		for _, f := range p.fields {
			if f.p.visit {
				kept = append(kept, f)
			}
		}
		p.fields = kept
	}
	return nil
}

// A copier replaces, inside a shallow copy, everything that needs masking.
// A copier serves one call: its memo holds the copies made so far.
type copier struct {
	m     *Masker
	depth int
	seen  map[refKey]struct{}       // references on the current path, past cycleDepth
	memo  map[memoKey]reflect.Value // masked copies of the references followed
}

// memoKey identifies the masked copy of a reference. The plan is part of
// the key because the same pointer, reached through fields tagged with
// different kinds, has different masked copies; it also tells apart a
// pointer to a struct and a pointer to its first field.
type memoKey struct {
	ref refKey
	p   *plan
}

// cycleDepth is the nesting depth after which the copier starts tracking
// the references it follows, to detect cycles (as encoding/json does).
const cycleDepth = 64

// refKey identifies a reference: a pointer or map (len -1), or a slice.
type refKey struct {
	ptr uintptr
	len int
}

// fix masks v in place. v is settable and holds a shallow copy of the
// caller's value: fix never writes through a reference it got from v;
// it replaces the reference with one to a masked copy.
func (c *copier) fix(p *plan, v reflect.Value) error {
	switch p.op {
	case opString:
		v.SetString(c.m.Mask(p.kind, v.String()))
	case opArray:
		for i := range v.Len() {
			if err := c.fix(p.elem, v.Index(i)); err != nil {
				return err
			}
		}
	case opStruct:
		for _, f := range p.fields {
			if err := c.fix(f.p, v.Field(f.index)); err != nil {
				return err
			}
		}
	case opPtr:
		if v.IsNil() {
			return nil
		}
		key := refKey{v.Pointer(), -1}
		if c.reuse(key, p, v) {
			return nil
		}
		if err := c.enter(key); err != nil {
			return err
		}
		defer c.leave(key)
		np := reflect.New(p.t.Elem())
		np.Elem().Set(v.Elem())
		if err := c.fix(p.elem, np.Elem()); err != nil {
			return err
		}
		c.remember(key, p, np)
		v.Set(np)
	case opSlice:
		if v.IsNil() {
			return nil
		}
		key := refKey{v.Pointer(), v.Len()}
		if c.reuse(key, p, v) {
			return nil
		}
		if err := c.enter(key); err != nil {
			return err
		}
		defer c.leave(key)
		n := v.Len()
		ns := reflect.MakeSlice(p.t, n, n)
		reflect.Copy(ns, v)
		for i := range n {
			if err := c.fix(p.elem, ns.Index(i)); err != nil {
				return err
			}
		}
		c.remember(key, p, ns)
		v.Set(ns)
	case opMap:
		if v.IsNil() {
			return nil
		}
		key := refKey{v.Pointer(), -1}
		if c.reuse(key, p, v) {
			return nil
		}
		if err := c.enter(key); err != nil {
			return err
		}
		defer c.leave(key)
		if p.key.visit {
			// The key type holds interfaces: a key's dynamic value must
			// not contain tagged data, which would be copied unmasked.
			for it := v.MapRange(); it.Next(); {
				if err := c.checkKey(p.key, it.Key()); err != nil {
					return err
				}
			}
			if !p.elem.visit {
				c.remember(key, p, v) // the keys were all it needed checking for
				return nil
			}
		}
		nm := reflect.MakeMapWithSize(p.t, v.Len())
		et := p.t.Elem()
		for it := v.MapRange(); it.Next(); {
			nv := reflect.New(et).Elem()
			nv.Set(it.Value())
			if err := c.fix(p.elem, nv); err != nil {
				return err
			}
			nm.SetMapIndex(it.Key(), nv)
		}
		c.remember(key, p, nm)
		v.Set(nm)
	case opIface:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		ep, err := planFor(e.Type())
		if err != nil {
			return err
		}
		if !ep.visit {
			return nil
		}
		nv := reflect.New(e.Type()).Elem()
		nv.Set(e)
		if err := c.fix(ep, nv); err != nil {
			return err
		}
		v.Set(nv)
	}
	return nil
}

// reuse sets v to the masked copy already made of the reference key with
// plan p, if there is one, and reports whether there was. So a reference
// reached many times (a DAG, a pointer shared by records) is copied once,
// in time linear in the size of the data, and the copies share it as the
// originals do. A reference still being copied is not in the memo yet:
// reaching it again is a cycle, which enter detects.
func (c *copier) reuse(key refKey, p *plan, v reflect.Value) bool {
	if c.memo == nil {
		return false
	}
	nv, ok := c.memo[memoKey{key, p}]
	if ok {
		v.Set(nv)
	}
	return ok
}

func (c *copier) remember(key refKey, p *plan, nv reflect.Value) {
	if c.memo == nil {
		c.memo = map[memoKey]reflect.Value{}
	}
	c.memo[memoKey{key, p}] = nv
}

// checkKey returns an error wrapping ErrMaskedMapKey if the map key k,
// whose static plan is p, holds a value whose dynamic type contains tagged
// data. Keys are comparable, so they hold no slices or maps; pointers in
// them are followed with the same cycle detection as fix.
func (c *copier) checkKey(p *plan, k reflect.Value) error {
	switch p.op {
	case opArray:
		for i := range k.Len() {
			if err := c.checkKey(p.elem, k.Index(i)); err != nil {
				return err
			}
		}
	case opStruct:
		for _, f := range p.fields {
			if err := c.checkKey(f.p, k.Field(f.index)); err != nil {
				return err
			}
		}
	case opPtr:
		if k.IsNil() {
			return nil
		}
		key := refKey{k.Pointer(), -1}
		if err := c.enter(key); err != nil {
			return err
		}
		defer c.leave(key)
		return c.checkKey(p.elem, k.Elem())
	case opIface:
		if k.IsNil() {
			return nil
		}
		e := k.Elem()
		ep, err := planFor(e.Type())
		if err != nil {
			return err
		}
		if ep.tagged {
			return &PlanError{Type: e.Type(), Err: ErrMaskedMapKey}
		}
		if ep.visit {
			return c.checkKey(ep, e)
		}
	}
	return nil
}

// enter records that the copier follows the reference key, and fails with
// ErrCycle if it is already on the current path. Below cycleDepth it only
// counts, so ordinary values cost no map. Each successful enter is paired
// with a leave.
func (c *copier) enter(key refKey) error {
	c.depth++
	if c.depth <= cycleDepth {
		return nil
	}
	if c.seen == nil {
		c.seen = map[refKey]struct{}{}
	}
	if _, ok := c.seen[key]; ok {
		c.depth--
		return ErrCycle
	}
	c.seen[key] = struct{}{}
	return nil
}

func (c *copier) leave(key refKey) {
	if c.depth > cycleDepth {
		delete(c.seen, key)
	}
	c.depth--
}
