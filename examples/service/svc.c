/* A directory-service client in miniature (the python-ldap story): connect, ping, search, format.
 * Bug: search() leaks the (int, str) entry tuple it builds, once per call. PyTuple_Pack takes its
 * own reference to the entry; ours is never released. A tuple holding only an int and a str is
 * untracked by the gc after a collection, so gc.get_objects() does not count it. */
#include <Python.h>

static PyObject *connect(PyObject *self, PyObject *args) {
    const char *url;
    if (!PyArg_ParseTuple(args, "s", &url)) return NULL;
    return PyLong_FromLong(7);
}

static PyObject *ping(PyObject *self, PyObject *args) {
    long conn;
    if (!PyArg_ParseTuple(args, "l", &conn)) return NULL;
    Py_RETURN_TRUE;
}

static PyObject *search(PyObject *self, PyObject *args) {
    long conn, id;
    if (!PyArg_ParseTuple(args, "ll", &conn, &id)) return NULL;
    PyObject *entry = Py_BuildValue("(ls)", id, "cn=user,dc=example,dc=org");
    if (!entry) return NULL;
    PyObject *result = PyTuple_Pack(1, entry);
    /* missing: Py_DECREF(entry); */
    return result;
}

static PyObject *format(PyObject *self, PyObject *args) {
    PyObject *result;
    if (!PyArg_ParseTuple(args, "O", &result)) return NULL;
    return PyObject_Repr(result);
}

static PyMethodDef methods[] = {
    {"connect", connect, METH_VARARGS, "a connection handle"},
    {"ping", ping, METH_VARARGS, "True"},
    {"search", search, METH_VARARGS, "((id, dn),), and leaks the (id, dn) tuple"},
    {"format", format, METH_VARARGS, "repr of a result"},
    {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "svc", NULL, -1, methods};
PyMODINIT_FUNC PyInit_svc(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initsvc(void) { Py_InitModule("svc", methods); }
#endif
