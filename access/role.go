package access

// Spec returns the role as a [RoleSpec], the form [Service.CreateRole] and
// [Service.UpdateRole] take: its name and its rights as [Right] values, in the order of
// Role.Rights.
//
// Why two forms: Role is what is stored, and its Rights are stable names so that a
// role may keep a right a host registers in one process and not in another (it grants
// nothing where it is not registered, and survives the round trip through the store);
// RoleSpec is what an administrator sets, typed, so that a misspelt right is a compile
// error. Spec drops names this process has not registered; UpdateRole(ctx, actor, id,
// v, role.Spec()) therefore removes them.
func (r Role) Spec() RoleSpec {
	spec := RoleSpec{Name: r.Name, Rights: make([]Right, 0, len(r.Rights))}
	for _, name := range r.Rights {
		if right, err := ParseRight(name); err == nil {
			spec.Rights = append(spec.Rights, right)
		}
	}
	return spec
}

// Has reports whether the role grants right r: the Admin kind grants every right, other
// roles the registered rights they name.
func (r Role) Has(right Right) bool {
	if !right.Valid() {
		return false
	}
	if r.Kind == KindAdmin {
		return true
	}
	name := right.String()
	for _, n := range r.Rights {
		if n == name {
			return true
		}
	}
	return false
}

// RoleByKind returns the tenant's role of a default kind (KindAdmin, KindSupervisor,
// KindAgent), which every tenant has exactly one of. ok is false for KindCustom (a
// tenant may have any number) and for a kind the tenant lacks.
func (p *Policy) RoleByKind(k RoleKind) (Role, bool) {
	if p == nil || k == KindCustom {
		return Role{}, false
	}
	for _, cr := range p.members.roles {
		if cr.role.Kind == k {
			return cr.role, true
		}
	}
	return Role{}, false
}
