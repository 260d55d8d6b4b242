module github.com/callshield/callshield/compare

go 1.26.0

require (
	github.com/callshield/callshield v0.0.0
	github.com/casbin/casbin/v2 v2.135.0
	github.com/google/uuid v1.6.0
	github.com/nyaruka/phonenumbers v1.8.1
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/bmatcuk/doublestar/v4 v4.6.1 // indirect
	github.com/boyter/go-string v1.0.5 // indirect
	github.com/casbin/govaluate v1.3.0 // indirect
	github.com/gaissmai/bart v0.30.0 // indirect
	github.com/medama-io/go-useragent v1.2.5 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace github.com/callshield/callshield => ../
