package storetest

var unitOfWorkCases = []accessCase{}
