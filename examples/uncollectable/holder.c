/* A C type that holds one Python object (a callback) but does not take part in the garbage
 * collector: no Py_TPFLAGS_HAVE_GC, no tp_traverse. A cycle through it (holder.callback refers back
 * to whatever owns the holder) is invisible to the gc, so it is never collected: each such cycle
 * stays alive for the life of the process. Builds on CPython 2.7 and 3.x. */
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *callback;
} Holder;

static void Holder_dealloc(Holder *self) {
    Py_XDECREF(self->callback);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef Holder_members[] = {
    {"callback", T_OBJECT, offsetof(Holder, callback), 0, "called when the job is done"},
    {NULL, 0, 0, 0, NULL}
};

static PyTypeObject HolderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    "holder.Holder",            /* tp_name */
    sizeof(Holder),             /* tp_basicsize */
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef holder_module = {PyModuleDef_HEAD_INIT, "holder", NULL, -1, NULL};
#define INIT_ERROR NULL
PyMODINIT_FUNC PyInit_holder(void)
#else
#define INIT_ERROR
PyMODINIT_FUNC initholder(void)
#endif
{
    PyObject *m;
    HolderType.tp_dealloc = (destructor)Holder_dealloc;
    HolderType.tp_flags = Py_TPFLAGS_DEFAULT; /* the bug: holds an object, but no Py_TPFLAGS_HAVE_GC/tp_traverse */
    HolderType.tp_members = Holder_members;
    HolderType.tp_new = PyType_GenericNew;
    if (PyType_Ready(&HolderType) < 0) return INIT_ERROR;
#if PY_MAJOR_VERSION >= 3
    m = PyModule_Create(&holder_module);
#else
    m = Py_InitModule("holder", NULL);
#endif
    if (m == NULL) return INIT_ERROR;
    Py_INCREF(&HolderType);
    PyModule_AddObject(m, "Holder", (PyObject *)&HolderType);
#if PY_MAJOR_VERSION >= 3
    return m;
#endif
}
