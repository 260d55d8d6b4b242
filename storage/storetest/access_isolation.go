package storetest

var isolationCases = []accessCase{}
