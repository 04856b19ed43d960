package model

// Identity is bound in gqlgen.yml instead of generated, so repos and
// calendar have no struct fields and are always resolved by
// resolvers.identityResolver. It holds no token: resolvers look the token up
// server-side by ID.
type Identity struct {
	ID           string       `json:"id"`
	Provider     string       `json:"provider"`
	Connection   string       `json:"connection"`
	UserID       string       `json:"userId"`
	IsSocial     bool         `json:"isSocial"`
	Capabilities []Capability `json:"capabilities"`
}
