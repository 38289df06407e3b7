/* Bug: dereferences NULL when the key is missing (SIGSEGV). */
#include <Python.h>

struct entry { const char *key; long value; };
static struct entry table[] = {{"a", 1}, {"b", 2}, {NULL, 0}};

static struct entry *lookup(const char *key) {
    for (struct entry *e = table; e->key; e++)
        if (strcmp(e->key, key) == 0) return e;
    return NULL;
}

static PyObject *get_value(PyObject *self, PyObject *args) {
    const char *key;
    if (!PyArg_ParseTuple(args, "s", &key)) return NULL;
    struct entry *e = lookup(key);
    return PyLong_FromLong(e->value);      /* <- NULL dereference for an unknown key */
}

static PyMethodDef methods[] = {{"get_value", get_value, METH_VARARGS, "crashes on an unknown key"}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "crash", NULL, -1, methods};
PyMODINIT_FUNC PyInit_crash(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initcrash(void) { Py_InitModule("crash", methods); }
#endif
