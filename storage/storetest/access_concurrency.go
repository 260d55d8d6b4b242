package storetest

var accessConcurrencyCases = []accessCase{}
